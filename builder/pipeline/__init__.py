"""`golden build`: profile to published golden image, stage by stage, cached.

    validate -> kickstart -> media -> install -> inspect -> customize -> seal -> publish

Each stage's key is a hash of its inputs chained to the previous stage's key,
so an unchanged profile rebuilds nothing and a changed %post reruns from the
kickstart on. See builder/pipeline/build.py.
"""

from builder.pipeline.build import BuildOutcome, build

__all__ = ["BuildOutcome", "build"]
