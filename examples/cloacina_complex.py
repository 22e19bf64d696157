"""Cloacina's Python tutorial 4, "complex_customer_analysis", as a wfsim workflow.

The tutorial builds one 15-task graph out of four patterns::

    prepare_dataset ─┬─ analyze_premium_customers ──┬─ generate_customer_report   (diamond)
                     └─ analyze_standard_customers ─┘
    distribute_workload ─┬─ process_batch_1 ─┬─ aggregate_batch_results        (fan-out,
                         ├─ process_batch_2 ─┤                                   fan-in)
                         ├─ process_batch_3 ─┤
                         └─ process_batch_4 ─┘
    aggregate_batch_results → level_1 → level_2 → level_3 → level_4 → final   (chain)

Each task here does the tutorial's computation on the shared context
(``ctx.get``/``ctx.set``). A task reads its inputs when it starts, works for a
small virtual duration (``DURATIONS``, waited with ``ctx.sleep``), then
publishes its results, the way a Cloacina task's context is saved when the
task completes. Randomness comes from ``ctx.random`` (seeded by the run, the
step and the attempt), never from the global ``random`` module, and
``datetime.now()`` reads the virtual clock (2026-01-01T00:00:00 at t=0).

A finding: the tutorial declares ``distribute_workload`` with no
dependencies, yet it reads ``context.get("dataset")``, which only
``prepare_dataset`` sets (the tutorial's own mermaid diagram draws the edge
``prepare_dataset --> distribute_workload``). ``build(fixed=False)`` keeps the
tutorial's dependencies exactly, and wfsim shows that ``distribute_workload``
then fails with ``wfsim.ContextKeyError`` for 'dataset'; ``build()`` adds the
missing edge.

Run it: ``python examples/cloacina_complex.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import wfsim

__all__ = ["BATCHES", "DURATIONS", "INPUT", "build", "main", "workflow"]

#: Virtual duration of each task, in seconds.
DURATIONS: dict[str, float] = {
    "prepare_dataset": 2,
    "analyze_premium_customers": 3,
    "analyze_standard_customers": 1.5,
    "generate_customer_report": 1,
    "distribute_workload": 0.5,
    "process_batch_1": 4,
    "process_batch_2": 2.5,
    "process_batch_3": 3,
    "process_batch_4": 3.5,
    "aggregate_batch_results": 1,
    "level_1_basic_analysis": 1,
    "level_2_segment_analysis": 1.5,
    "level_3_advanced_metrics": 2,
    "level_4_predictive_insights": 2.5,
    "final_comprehensive_report": 0.5,
}

#: Score multiplier of each batch (the tutorial's ``value * 0.1 + randint(1, 10)`` etc.).
BATCHES: dict[int, float] = {1: 0.1, 2: 0.12, 3: 0.08, 4: 0.09}

#: The tutorial's initial context (its request id came from the host clock).
INPUT: dict[str, Any] = {
    "tutorial": "04",
    "analysis_type": "comprehensive_customer_analysis",
    "request_id": "req_1767225600",
}


def _average(total: float, count: int) -> float:
    return total / count if count else 0


def build(fixed: bool = True) -> wfsim.Workflow:
    """The tutorial's 15-task workflow.

    ``fixed=True`` adds the dependency the tutorial forgot
    (``distribute_workload`` after ``prepare_dataset``); ``fixed=False`` keeps
    the tutorial's dependencies exactly, race included.
    """
    wf = wfsim.Workflow("complex_customer_analysis")

    # -- diamond: fork-join ---------------------------------------------------------------
    @wf.step
    async def prepare_dataset(ctx: wfsim.StepContext) -> None:
        rng = ctx.random
        dataset = {
            "customers": [
                {
                    "id": i,
                    "name": f"Customer_{i}",
                    "segment": rng.choice(["premium", "standard", "basic"]),
                    "value": rng.randint(100, 10000),
                }
                for i in range(1, 101)
            ],
            "prepared_at": datetime.now().isoformat(),
            "total_records": 100,
        }
        await ctx.sleep(DURATIONS["prepare_dataset"])
        ctx.set("dataset", dataset)
        ctx.set("preparation_complete", True)

    @wf.step(after=["prepare_dataset"])
    async def analyze_premium_customers(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("dataset")["customers"]
        premium = [c for c in customers if c["segment"] == "premium"]
        total = sum(c["value"] for c in premium)
        analysis = {
            "segment": "premium",
            "count": len(premium),
            "total_value": total,
            "average_value": _average(total, len(premium)),
            "top_customers": sorted(premium, key=lambda c: c["value"], reverse=True)[:5],
        }
        await ctx.sleep(DURATIONS["analyze_premium_customers"])
        ctx.set("premium_analysis", analysis)

    @wf.step(after=["prepare_dataset"])
    async def analyze_standard_customers(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("dataset")["customers"]
        standard = [c for c in customers if c["segment"] == "standard"]
        total = sum(c["value"] for c in standard)
        distribution = {"low": 0, "medium": 0, "high": 0}
        for c in standard:
            band = "low" if c["value"] < 1000 else "medium" if c["value"] < 5000 else "high"
            distribution[band] += 1
        analysis = {
            "segment": "standard",
            "count": len(standard),
            "total_value": total,
            "average_value": _average(total, len(standard)),
            "distribution": distribution,
        }
        await ctx.sleep(DURATIONS["analyze_standard_customers"])
        ctx.set("standard_analysis", analysis)

    @wf.step(after=["analyze_premium_customers", "analyze_standard_customers"])
    async def generate_customer_report(ctx: wfsim.StepContext) -> None:
        premium = ctx.get("premium_analysis")
        standard = ctx.get("standard_analysis")
        dataset = ctx.get("dataset")
        records = dataset["total_records"]
        report = {
            "report_type": "customer_segmentation",
            "generated_at": datetime.now().isoformat(),
            "dataset_info": {
                "total_customers": records,
                "prepared_at": dataset["prepared_at"],
            },
            "segment_analysis": {"premium": premium, "standard": standard},
            "summary": {
                "total_premium_value": premium["total_value"],
                "total_standard_value": standard["total_value"],
                "premium_percentage": premium["count"] / records * 100,
                "standard_percentage": standard["count"] / records * 100,
            },
        }
        await ctx.sleep(DURATIONS["generate_customer_report"])
        ctx.set("customer_report", report)

    # -- fan-out ----------------------------------------------------------------------------
    # The tutorial registers distribute_workload with no dependencies although it
    # reads the "dataset" that prepare_dataset sets: a race. fixed=True adds the
    # edge that the tutorial's own diagram draws.
    @wf.step(after=["prepare_dataset"] if fixed else None)
    async def distribute_workload(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("dataset")["customers"]
        size = len(customers) // 4
        batches = {
            "batch_1": customers[0:size],
            "batch_2": customers[size : size * 2],
            "batch_3": customers[size * 2 : size * 3],
            "batch_4": customers[size * 3 :],
        }
        await ctx.sleep(DURATIONS["distribute_workload"])
        ctx.set("processing_batches", batches)
        ctx.set("workload_distributed", True)

    def batch_step(batch_id: int, factor: float) -> None:
        async def process_batch(ctx: wfsim.StepContext) -> None:
            batch = ctx.get("processing_batches")[f"batch_{batch_id}"]
            processed = [
                {
                    **c,
                    "processed": True,
                    "score": c["value"] * factor + ctx.random.randint(1, 10),
                    "batch": batch_id,
                }
                for c in batch
            ]
            result = {
                "batch_id": batch_id,
                "processed_count": len(processed),
                "customers": processed,
                "batch_total_value": sum(c["value"] for c in processed),
                "processing_time": datetime.now().isoformat(),
            }
            await ctx.sleep(DURATIONS[f"process_batch_{batch_id}"])
            ctx.set(f"batch_{batch_id}_result", result)

        wf.add_step(f"process_batch_{batch_id}", fn=process_batch, after=["distribute_workload"])

    for batch_id, factor in BATCHES.items():
        batch_step(batch_id, factor)

    # -- fan-in -----------------------------------------------------------------------------
    @wf.step(after=[f"process_batch_{i}" for i in BATCHES])
    async def aggregate_batch_results(ctx: wfsim.StepContext) -> None:
        results = [ctx.get(f"batch_{i}_result") for i in BATCHES]
        customers = [c for r in results for c in r["customers"]]
        count = sum(r["processed_count"] for r in results)
        value = sum(r["batch_total_value"] for r in results)
        aggregated = {
            "aggregation_type": "batch_processing",
            "total_customers_processed": count,
            "total_value_processed": value,
            "average_customer_value": _average(value, count),
            "batch_statistics": [
                {
                    "batch_id": r["batch_id"],
                    "count": r["processed_count"],
                    "value": r["batch_total_value"],
                    "avg_value": _average(r["batch_total_value"], r["processed_count"]),
                }
                for r in results
            ],
            "processed_customers": customers,
            "aggregated_at": datetime.now().isoformat(),
        }
        await ctx.sleep(DURATIONS["aggregate_batch_results"])
        ctx.set("aggregated_results", aggregated)

    # -- multi-level chain ------------------------------------------------------------------
    @wf.step(after=["aggregate_batch_results"])
    async def level_1_basic_analysis(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("aggregated_results")["processed_customers"]
        values = [c["value"] for c in customers]
        scores = [c["score"] for c in customers]
        stats = {
            "level": 1,
            "customer_count": len(customers),
            "value_stats": {
                "min": min(values),
                "max": max(values),
                "avg": sum(values) / len(values),
                "total": sum(values),
            },
            "score_stats": {
                "min": min(scores),
                "max": max(scores),
                "avg": sum(scores) / len(scores),
            },
        }
        await ctx.sleep(DURATIONS["level_1_basic_analysis"])
        ctx.set("level_1_analysis", stats)

    @wf.step(after=["level_1_basic_analysis"])
    async def level_2_segment_analysis(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("aggregated_results")["processed_customers"]
        segments: dict[str, list[dict[str, Any]]] = {}
        for c in customers:
            segments.setdefault(c["segment"], []).append(c)
        analysis = {}
        for name, members in segments.items():
            values = [c["value"] for c in members]
            scores = [c["score"] for c in members]
            analysis[name] = {
                "count": len(members),
                "total_value": sum(values),
                "avg_value": sum(values) / len(values),
                "avg_score": sum(scores) / len(scores),
                "top_customer": max(members, key=lambda c: c["value"]),
            }
        await ctx.sleep(DURATIONS["level_2_segment_analysis"])
        ctx.set(
            "level_2_analysis",
            {"level": 2, "segments": analysis, "segment_count": len(segments)},
        )

    @wf.step(after=["level_2_segment_analysis"])
    async def level_3_advanced_metrics(ctx: wfsim.StepContext) -> None:
        customers = ctx.get("aggregated_results")["processed_customers"]
        level_2 = ctx.get("level_2_analysis")
        values = sorted(c["value"] for c in customers)
        n = len(values)
        mean = sum(values) / n
        metrics: dict[str, Any] = {
            "level": 3,
            "percentiles": {
                "p25": values[n // 4],
                "p50": values[n // 2],
                "p75": values[3 * n // 4],
                "p90": values[9 * n // 10],
                "p95": values[19 * n // 20],
            },
            "segment_comparison": {
                name: {
                    "value_efficiency": _average(seg["avg_score"], seg["avg_value"]),
                    "relative_performance": seg["avg_value"] / mean,
                }
                for name, seg in level_2["segments"].items()
            },
            "outlier_analysis": {
                "high_value_customers": [c for c in customers if c["value"] > values[19 * n // 20]],
                "low_value_customers": [c for c in customers if c["value"] < values[n // 20]],
            },
        }
        await ctx.sleep(DURATIONS["level_3_advanced_metrics"])
        ctx.set("level_3_analysis", metrics)

    @wf.step(after=["level_3_advanced_metrics"])
    async def level_4_predictive_insights(ctx: wfsim.StepContext) -> None:
        level_1 = ctx.get("level_1_analysis")
        level_2 = ctx.get("level_2_analysis")
        level_3 = ctx.get("level_3_analysis")
        insights: dict[str, Any] = {
            "level": 4,
            "key_insights": [],
            "recommendations": [],
            "risk_factors": [],
            "opportunities": [],
        }
        avg_value = level_1["value_stats"]["avg"]
        for name, seg in level_2["segments"].items():
            if seg["avg_value"] > avg_value * 1.5:
                insights["key_insights"].append(
                    f"{name} segment shows high value potential "
                    f"(${seg['avg_value']:.2f} vs ${avg_value:.2f} average)"
                )
                insights["recommendations"].append(f"Focus retention efforts on {name} customers")
            if seg["count"] < 10:
                insights["risk_factors"].append(
                    f"{name} segment has low customer count ({seg['count']})"
                )
            efficiency = level_3["segment_comparison"][name]["value_efficiency"]
            if efficiency > 0.02:
                insights["opportunities"].append(
                    f"{name} shows high score-to-value efficiency ({efficiency:.4f})"
                )
        p95 = level_3["percentiles"]["p95"]
        high = len(level_3["outlier_analysis"]["high_value_customers"])
        insights["recommendations"].extend(
            [
                f"Target customers with values above ${p95} for premium services",
                f"Investigate {high} high-value customers for expansion opportunities",
            ]
        )
        await ctx.sleep(DURATIONS["level_4_predictive_insights"])
        ctx.set("level_4_analysis", insights)

    @wf.step(after=["level_4_predictive_insights"])
    async def final_comprehensive_report(ctx: wfsim.StepContext) -> None:
        customer_report = ctx.get("customer_report")
        aggregated = ctx.get("aggregated_results")
        level_1 = ctx.get("level_1_analysis")
        level_2 = ctx.get("level_2_analysis")
        level_3 = ctx.get("level_3_analysis")
        level_4 = ctx.get("level_4_analysis")
        report = {
            "report_title": "Comprehensive Customer Analysis Report",
            "generated_at": datetime.now().isoformat(),
            "workflow_summary": {
                "total_tasks_executed": 15,
                "patterns_demonstrated": ["diamond", "fan-out", "fan-in", "multi-level-chain"],
                "parallel_processing_batches": 4,
            },
            "executive_summary": {
                "total_customers_analyzed": level_1["customer_count"],
                "total_customer_value": f"${level_1['value_stats']['total']:,.2f}",
                "average_customer_value": f"${level_1['value_stats']['avg']:,.2f}",
                "segments_identified": level_2["segment_count"],
                "key_insights_count": len(level_4["key_insights"]),
                "recommendations_count": len(level_4["recommendations"]),
            },
            "detailed_analysis": {
                "diamond_pattern_results": customer_report,
                "fanout_processing_results": aggregated,
                "sequential_analysis": {
                    "level_1_basic": level_1,
                    "level_2_segments": level_2,
                    "level_3_advanced": level_3,
                    "level_4_insights": level_4,
                },
            },
            "actionable_recommendations": level_4["recommendations"],
            "risk_assessment": level_4["risk_factors"],
            "growth_opportunities": level_4["opportunities"],
        }
        await ctx.sleep(DURATIONS["final_comprehensive_report"])
        ctx.set("comprehensive_report", report)

    return wf


workflow = build()


def main(seed: int = 4) -> wfsim.RunResult:
    """Run the fixed workflow and print the outcome, the timeline and the digest."""
    result = wfsim.run(workflow, input=INPUT, seed=seed)
    print(f"Workflow status: {result.status}")
    print(f"Makespan: {result.makespan:g} virtual seconds")
    report = result.context.get("comprehensive_report")
    if report is not None:
        summary = report["executive_summary"]
        print(f"Generated at: {report['generated_at']}")
        print(f"Customers analyzed: {summary['total_customers_analyzed']}")
        print(f"Total customer value: {summary['total_customer_value']}")
        print(f"Average customer value: {summary['average_customer_value']}")
        print(f"Segments identified: {summary['segments_identified']}")
        for i, rec in enumerate(report["actionable_recommendations"][:3], 1):
            print(f"  {i}. {rec}")
    print()
    print(result.trace.format())
    print()
    print(f"Trace digest: {result.digest()}")
    return result


if __name__ == "__main__":
    main()
