"""One test module per probe (test_<probe id>.py); kit.py builds their contexts and checks their results."""
