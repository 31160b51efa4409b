"""Start-up: the project root, building objects from config, config checks, run folders."""
