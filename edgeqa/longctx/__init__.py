"""`edgeqa longctx`: how far a GGUF's context can be stretched with RoPE scaling, on this device."""
