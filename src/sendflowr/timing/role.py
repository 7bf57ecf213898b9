"""The inference role: ``sendflowr serve --role inference`` (port 8001 by default)."""

from __future__ import annotations

from sendflowr.identity import IdentityResolver
from sendflowr.serve.contract import Resources, RoleHandle
from sendflowr.settings import Settings
from sendflowr.timing.api import create_app
from sendflowr.timing.compat import StoreClickStats
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.engine import TimingEngine, load_latency
from sendflowr.timing.explanations import StoreExplanations
from sendflowr.timing.explore import DEFAULT_EXPLORE_SHARE
from sendflowr.timing.revisions import LiveService
from sendflowr.timing.sources import StoreSource

__all__ = ["build", "curve_config"]


def curve_config(settings: Settings) -> CurveConfig:
    """Curve hyper-parameters from settings (the rest keep their defaults)."""
    return CurveConfig(
        half_life_hours=settings.timing_half_life_hours,
        long_half_life_hours=settings.timing_long_half_life_hours,
        open_weight=settings.timing_open_weight,
    )


def build(resources: Resources) -> RoleHandle:
    """The inference app over the process's shared store; no I/O until its lifespan starts."""
    settings = resources.settings

    live = LiveService(settings, resources.clock)  # --- live context + held schedules ---

    def make_engine() -> TimingEngine:
        store = resources.store("inference")
        return live.score_with(TimingEngine(
            live.start(StoreSource(store), store),
            live.explanations(StoreExplanations(store)),
            load_latency(settings.latency_model_dir),
            config=curve_config(settings),
            clock=resources.clock,
            refresh_seconds=settings.timing_refresh_seconds,
            latency_dir=settings.latency_model_dir,
            full_fit_seconds=settings.timing_full_fit_seconds,
        ))  # fmt: skip

    def make_resolver() -> IdentityResolver:
        return resources.identity()

    def make_click_stats() -> StoreClickStats:
        return StoreClickStats(resources.store())

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app = create_app(
        make_engine,
        stop_engine=live.stop,  # the app's shutdown stops what its startup started
        make_resolver=make_resolver,
        make_click_stats=make_click_stats,
        api_key=api_key,
        explore_share=(
            DEFAULT_EXPLORE_SHARE
            if settings.timing_explore_share is None
            else settings.timing_explore_share
        ),
        explore_seed=settings.timing_explore_seed,
        readiness=resources.store_problem,
    )
    # ``stop`` too: ``serve`` stops each role after its server, even one whose lifespan
    # shutdown never ran (stopping twice is a no-op)
    return RoleHandle(name="inference", app=app, port=settings.inference_port, stop=live.stop)
