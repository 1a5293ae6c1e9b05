from . import download_model_controller
