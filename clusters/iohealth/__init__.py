"""I/O-path health in one place: the rules that judge a probe, the writes that store
samples and verdicts, and the reads behind its pages."""
