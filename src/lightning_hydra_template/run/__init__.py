"""The life of one run: resume, init_from, interruption, the run record and summary, guards."""
