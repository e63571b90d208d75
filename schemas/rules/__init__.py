"""Rules as data, shared by the gateway (which writes them) and the worker (which applies them):
their model, an account's rule book, the change log they are kept in, and the catalog every
process follows on the rules topic. The worker's rule engine is ``eventline.streams.rules``.
"""
