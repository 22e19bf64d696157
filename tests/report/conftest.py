"""Helpers of the report tests: a probe scenario, its campaign page, an element finder."""

from __future__ import annotations

import html.parser
import pathlib

import attrs

from tests.campaign.probe import probe_text
from wfsim.campaign import run_campaign
from wfsim.report._command import _campaign_page

#: A step name that is HTML: every page must show it as text.
HOSTILE = "<img src=x onerror=alert(1)>"

PROBE = probe_text('coverage probe <with markup & "quotes">')  # the title is HTML too


def write_probe(directory: pathlib.Path) -> pathlib.Path:
    path = directory / "probe.wfsim.yaml"
    path.write_text(PROBE, encoding="utf-8")
    return path


def probe_page(directory: pathlib.Path, probe: pathlib.Path, *, again: bool = False) -> str:
    """The campaign page of 30 seeds of ``probe`` (recorded once per directory)."""
    store = directory / "out" / "campaigns.sqlite"
    if not again:
        run_campaign([probe], seeds=30, store=store)
    return _campaign_page(store, 1)


@attrs.frozen
class Element:
    tag: str
    attrs: dict[str, str]

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()


@attrs.frozen
class Elements:
    """Every start tag of a page, in order (the DOM as a flat list)."""

    items: list[Element]

    @classmethod
    def of(cls, page: str) -> Elements:
        found: list[Element] = []

        class Parser(html.parser.HTMLParser):
            def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
                found.append(Element(tag, {k: v or "" for k, v in attributes}))

            def handle_startendtag(
                self, tag: str, attributes: list[tuple[str, str | None]]
            ) -> None:
                self.handle_starttag(tag, attributes)

        parser = Parser()
        parser.feed(page)
        parser.close()
        return cls(found)

    def select(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.items if e.tag == tag and (cls is None or cls in e.classes)]

    def count(self, tag: str, cls: str | None = None) -> int:
        return len(self.select(tag, cls))

    def attr_values(self, tag: str, cls: str, name: str) -> list[str]:
        return [e.attrs.get(name, "") for e in self.select(tag, cls)]

    def by_id(self, ident: str) -> Element | None:
        return next((e for e in self.items if e.attrs.get("id") == ident), None)
