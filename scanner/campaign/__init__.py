"""Nightly scan campaigns (issue 7): run a campaign file, resume it after a crash, diff runs, report.

* :func:`run_campaign` — lock, pick or resume the run, sweep -> probe -> classify -> enrich -> store ->
  export -> HTML report -> push (:mod:`scanner.campaign.run`).
* :class:`CampaignLock` — one run of a campaign at a time (:mod:`scanner.campaign.lock`).
* :func:`diff_runs`, :func:`default_diff_pair`, :func:`finished_runs`... (:mod:`scanner.campaign.runs`).

The campaign file format is :mod:`scanner.config`; scheduling is ``docs/scheduling.md``.
"""

from scanner.campaign.lock import CampaignLock, CampaignLocked, lock_path, read_lock
from scanner.campaign.run import Progress, RunOutcome, check_push_credentials, run_campaign, select_run
from scanner.campaign.runs import (campaign_runs, default_diff_pair, diff_runs, finished_runs, latest_run,
                                   previous_finished, pools_per_run, run_counts, unfinished_run)

__all__ = ["CampaignLock", "CampaignLocked", "lock_path", "read_lock", "Progress", "RunOutcome",
           "check_push_credentials", "run_campaign", "select_run", "campaign_runs", "default_diff_pair",
           "diff_runs", "finished_runs", "latest_run", "previous_finished", "pools_per_run", "run_counts",
           "unfinished_run"]
