"""The one error the service raises for the UIs to show."""


class InputError(ValueError):
    """A problem with user input, phrased for the user (never a server path)."""
