"""The processes eventline runs, and the pipeline that starts them: the local broker, the
gateway processes, the worker and the sink, one pipeline per home, and the demo."""
