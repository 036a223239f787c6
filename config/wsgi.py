import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their models: ~100,000 objects) lives as long as
# the process. Moved out of the garbage collector's generations, it is no longer scanned by
# every full collection, which the ~100,000 objects of a bulk ingestion set off a few times
# per request: ~15% less CPU per bulk request (bench/ingest_profile.py --no-gc-freeze).
gc.freeze()
