from . import test_bulk_upsert
from . import test_dataset
from . import test_download_controller
from . import test_security
from . import test_training_job
from . import test_ga4_credential
from . import test_ga4_download
