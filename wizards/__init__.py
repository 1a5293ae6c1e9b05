from . import import_csv_wizard
from . import ai_dataset_merge_wizard
from . import ai_dataset_register_wizard
from . import ai_model_import_wizard
from . import ai_model_alias_wizard
