from . import download_model_controller
from . import dataset_controller
