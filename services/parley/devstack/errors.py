"""Errors the dev stack reports to a person, each naming what is wrong and what to do."""


class DevStackError(Exception):
    """A failure with a message meant for the person running the stack."""


class PortInUseError(DevStackError):
    def __init__(self, component: str, port: int) -> None:
        super().__init__(
            f"{component}: port 127.0.0.1:{port} is already in use by another process. "
            f"Stop it (e.g. `ss -ltnp 'sport = :{port}'` shows which) or run `parley dev down`."
        )


class MissingToolError(DevStackError):
    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"required tool `{tool}` was not found: {hint}")
