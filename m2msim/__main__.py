"""`python -m m2msim`."""

from m2msim.entry import console

if __name__ == "__main__":
    console()
