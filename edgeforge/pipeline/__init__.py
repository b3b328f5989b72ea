"""The compile pipeline: plan, build in a child process, validate, report."""
