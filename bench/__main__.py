"""``python -m bench`` (``make bench``): see bench/run.py and bench/README.md.

Kept to an import inside the guard: the benchmark's processes are spawned, and a spawned
process imports this module again, which must not load the whole pipeline each time."""

if __name__ == "__main__":
    import sys

    from bench.run import main

    sys.exit(main())
