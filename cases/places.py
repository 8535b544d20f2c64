"""Where a case lies, for every query that narrows cases to an area: one definition.

A case lies in its grid; one in a coverage gap (no grid) lies in the most precise area
that holds it (community, street or district). ``IN_AREA`` narrows a query on ``"case" c``
to the area whose code is the ``:prefix`` parameter followed by ``%``.
"""

import re

from db.tables import CASE_PLACE

PLACE_SQL = re.sub(r"(\w+_code)", r"c.\1", CASE_PLACE)
IN_AREA = f"{PLACE_SQL} LIKE :prefix"
