class ConsoleError(Exception):
    """The one application error: an operation the console refuses, with a reason.

    `message` is one plain sentence for the admin; `detail` is optional
    structured data (for example which hosts did not answer).
    """

    status_code = 409

    def __init__(self, message: str, *, detail=None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
