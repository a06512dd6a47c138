"""`edgeqa pipeline`: finetune -> export -> eval -> profile -> report, each step skipped when done."""
