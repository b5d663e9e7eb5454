"""Local development stack: the processes `make up` and the test suite run on this machine."""
