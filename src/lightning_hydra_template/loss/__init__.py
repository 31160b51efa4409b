"""Training losses chosen in config (`configs/loss/`): cross-entropy and focal, with class weights."""
