/** Which steering actions apply to a deployment as it is now: the scheduler's own rules, so a button is
 * offered only when the call would be accepted. */
import type { Deployment, DeploymentState, TargetState } from '@/api/deployments'

export type Control = 'pause' | 'resume' | 'cancel' | 'retry' | 'approve'
export const CONTROLS: Control[] = ['pause', 'resume', 'cancel', 'retry', 'approve']

const STATES: Record<Control, DeploymentState[]> = {
  pause: ['pending', 'running'],
  resume: ['paused'],
  cancel: ['scheduled', 'pending', 'running', 'paused'],
  retry: ['running', 'paused', 'failed', 'succeeded'],
  approve: ['running', 'paused'],
}

// Targets an approval still reaches: waiting, or on their way there (they go on once verified).
const APPROVABLE: TargetState[] = ['awaiting_approval', 'assigned', 'downloading']

/** The controls the deployment's state allows, in a stable order. */
export function applicableControls(deployment: Deployment): Control[] {
  const { state, counts, strategy } = deployment
  return CONTROLS.filter((control) => {
    if (!state || !STATES[control].includes(state)) return false
    if (control === 'retry') return counts.failed > 0
    if (control === 'approve') return strategy.require_approval && APPROVABLE.some((s) => counts[s] > 0)
    return true
  })
}

/** Targets a control applies to, out of those the user selected in the table (empty: every target). */
export function selectedFor(
  control: 'retry' | 'approve',
  selected: { server_id: string; state: TargetState | null }[],
): string[] {
  const wanted: TargetState[] = control === 'retry' ? ['failed'] : APPROVABLE
  return selected.filter((target) => target.state && wanted.includes(target.state)).map((target) => target.server_id)
}
