"""`edgeqa profile` and `edgeqa doctor`: what a user of the model waits for and pays, per machine."""
