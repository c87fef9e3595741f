"""darkroom on AWS as a CDK app (Python). Entry points: app.py and `darkroom deploy synth`."""

from darkroom_cdk.stack import DarkroomStack, build_app
from darkroom_cdk.stages import STAGE_NAMES, STAGES, ConfigError, Options

__all__ = ["STAGES", "STAGE_NAMES", "ConfigError", "DarkroomStack", "Options", "build_app"]
