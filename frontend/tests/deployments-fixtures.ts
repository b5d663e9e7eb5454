/** Deployments and targets as the gateway shows them, for the deployments tests. */
import type { Counts, Deployment, DeploymentTarget } from '@/api/deployments'

export function counts(given: Partial<Counts> = {}): Counts {
  const zero = {
    pending: 0,
    assigned: 0,
    downloading: 0,
    installing: 0,
    succeeded: 0,
    unchanged: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    awaiting_approval: 0,
    ...given,
  }
  const total = Object.values(zero).reduce((sum, n) => sum + n, 0)
  return { ...zero, total }
}

export function deployment(given: Partial<Deployment> = {}): Deployment {
  return {
    id: 'd1',
    package_id: 'p1',
    software_name: 'deployments-hello',
    version: '1.1.0',
    action: 'install',
    target: { group_id: 'g1' },
    strategy: {
      batch_size: 1,
      batch_percent: 0,
      max_failures: 0,
      max_failure_percent: 0,
      canary: false,
      pause_between_batches_seconds: 0,
      require_approval: false,
    },
    state: 'running',
    state_reason: '',
    origin: 'manual',
    policy_id: '',
    schedule_id: '',
    rollback_deployment_id: '',
    override_maintenance_window: false,
    counts: counts({ pending: 2 }),
    current_batch: 1,
    batch_count: 2,
    created_by: 'admin',
    created_at: '2026-11-28T07:00:00Z',
    updated_at: '2026-11-28T07:00:00Z',
    started_at: null,
    finished_at: null,
    ...given,
  }
}

export function target(given: Partial<DeploymentTarget> = {}): DeploymentTarget {
  return {
    deployment_id: 'd1',
    server_id: 's1',
    hostname: 'demo-deb-1',
    attempt: 1,
    batch: 1,
    state: 'pending',
    progress_percent: 0,
    message: '',
    previous_version: '',
    installed_version: '',
    started_at: null,
    finished_at: null,
    updated_at: '2026-11-28T07:00:00Z',
    ...given,
  }
}

/** Lets pending promises and timers of zero delay run. */
export async function settled(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setTimeout(resolve, 0))
}
