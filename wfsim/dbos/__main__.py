"""``python -m wfsim.dbos``: DBOS and wfsim side by side at every crash point."""

from __future__ import annotations

from wfsim.dbos import CRASH_POINTS, dbos_effects, wfsim_effects


def main() -> None:
    print(f"{'crash point':<14} {'DBOS effects':<36} {'wfsim effects':<36} same")
    for point in CRASH_POINTS:
        real, real_result = dbos_effects(point)
        sim, sim_result = wfsim_effects(point)
        same = real == sim and real_result == sim_result
        print(f"{point:<14} {real!s:<36} {sim!s:<36} {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
