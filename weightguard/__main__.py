"""`python -m weightguard`."""

from weightguard.cli import main

if __name__ == "__main__":
    main()
