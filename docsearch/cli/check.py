"""`docsearch check`: the full integrity check of an index, and its repair."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from ..types import RecordFields
from .app import BackendOpt, DeviceOpt, HomeOpt, IndexOpt, ModelOpt, UrlOpt, command, out, settings_from
from .render import print_check


@command(interrupted="the index is consistent; run the same command again to finish the repair")
def check(
    index: IndexOpt = None, model: ModelOpt = None, qdrant_url: UrlOpt = None, home: HomeOpt = None,
    repair: Annotated[bool, typer.Option(
        help="Restore index.json from the store's record, delete orphan and malformed points, embed missing "
             "chunks again.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout, nothing else.")] = False,
    id_field: Annotated[Optional[str], typer.Option(help="As given to docsearch index (records re-embedded).")] = None,
    title_field: Annotated[Optional[str], typer.Option(help="As given to docsearch index.")] = None,
    text_field: Annotated[Optional[str], typer.Option(help="As given to docsearch index.")] = None,
    backend: BackendOpt = None, device: DeviceOpt = None,
) -> None:
    """Check an index through and through: every indexed chunk stored, no point without its source,
    payloads well-formed, the vectors readable, the model as the store records it. Exit 1 while a
    problem remains."""
    from ..integrity import check_index

    s = settings_from(index=index, model=model, qdrant_url=qdrant_url, home=home, backend=backend, device=device)
    defaults = RecordFields()
    fields = RecordFields(id_field or defaults.id, title_field or defaults.title, text_field or defaults.text)
    report = check_index(s, repair=repair, fields=fields)
    if json_out:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        print_check(out, report)
    if not report.ok:
        raise typer.Exit(1)
