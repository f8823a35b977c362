"""Compatibility path: the FHIR code tables moved to :mod:`oncoline.io.fhir.codes` (issue 7 item 2).

Kept because ``oncoline kb lint`` loads ``oncoline.io.fhir_codes.load_fhir_codes`` by name; import from
:mod:`oncoline.io.fhir.codes` in new code.
"""

from oncoline.io.fhir.codes import FhirCodes, load_fhir_codes, norm_text

__all__ = ["FhirCodes", "load_fhir_codes", "norm_text"]
