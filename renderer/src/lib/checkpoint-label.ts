/** "step-000480.ckpt" -> "step 480"; another name as it is (Neighbours and Map label their source with it). */
export function checkpointLabel(name: string): string {
  const step = /^step-(\d+)\.ckpt$/.exec(name)?.[1];
  return step === undefined ? name : `step ${Number(step)}`;
}
