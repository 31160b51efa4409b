"""The Optuna trial contract, imported by the trial side (a train.py run) and by the sweeper plugin."""
