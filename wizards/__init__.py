from . import import_csv_wizard
from . import merge_dataset_wizard
from . import register_dataset_wizard
from . import import_model_wizard
