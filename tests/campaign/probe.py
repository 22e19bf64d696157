"""The coverage probe: a four-step saga the coverage tests and the report tests both run.

pay fails its first attempt in about half the seeds; ship fails for good (and the
saga compensates) in about a third; notify's fault targets an attempt it never makes.
"""

from __future__ import annotations

_BODY = """\
workflow:
  name: probe
  steps:
    book: {duration: 1s, compensate: {name: unbook, duration: 100ms}}
    pay:
      after: [book]
      duration: 1s
      retry: {max_attempts: 4, initial_interval: 1s}
      compensate: {name: refund, duration: 100ms}
    ship: {after: [pay], duration: 1s}
    notify: {after: [ship], duration: 100ms}
faults:
  - {step: pay, error: ConnectionError, attempts: [1], probability: 0.5}
  - {step: ship, error: LookupError, retryable: false, probability: 0.3}
  - {step: notify, error: KeyError, attempts: [2]}
expect:
  status: completed
"""


def probe_text(title: str = "coverage probe") -> str:
    """The probe's scenario file, titled ``title`` (written as is: a plain YAML scalar)."""
    return f"scenario: {title}\n{_BODY}"
