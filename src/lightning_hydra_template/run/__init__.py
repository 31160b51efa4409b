"""Run plumbing: run folders, atomic files, statuses, signals and guards around a task."""
