"""The product stage: a day's 1 km layers produced (:mod:`.produce`), written atomically as
COGs with thumbnail and provenance (:mod:`.write`, :mod:`.cog`, :mod:`.thumbnail`,
:mod:`.provenance`, band and QA definitions in :mod:`.bands` and :mod:`.qa`) and read back or
checked (:mod:`.read`)."""
