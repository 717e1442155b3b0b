"""The billing office's view: server-rendered pages, CSV and XLSX exports, the provider statement.

`register_pages(tb)` puts them on a worker's web server; the modules below it have no Faust in them except
`views` (queries, filters, exports, statement are plain code the `takeback report` command reuses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.container import TakebackApp


def register_pages(tb: TakebackApp) -> None:
    from streams.pages.views import register  # imported here: views needs the Faust app, the rest does not

    register(tb)
