from . import ai_protected_mixin
from . import ai_bulk_mixin
from . import ai_dataset
from . import ai_model_metric
from . import ai_model_version
from . import model_trainer
