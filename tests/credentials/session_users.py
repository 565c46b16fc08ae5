"""What the session tests' users sign in with (see the ``bob_account`` fixture in conftest.py)."""

PASSWORD = "Corr3ct-Horse!"
