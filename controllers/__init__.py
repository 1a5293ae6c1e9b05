from . import download_model_controller
from . import dataset_controller
from . import prediction_api_controller
from . import health_controller
