-- Argo CD health of a TelemetryLake (lake.telemetrylake.io/v1alpha1).
--
-- Healthy:     the operator has observed the current generation and its Ready condition, written
--              for that same generation, is True.
-- Degraded:    Ready=False for a reason that needs a person (v1alpha1.TerminalReasons: retrying
--              alone will not help).
-- Progressing: everything else. The operator has not caught up with the spec yet, or it is still
--              provisioning storage, issuing credentials or rolling out the ingester.
--
-- A status written for an older generation is never trusted, not even a Degraded one: the edit
-- that bumped the generation may be the fix. The Go test in this directory runs this script
-- against every condition reason of api/v1alpha1 and fails when the list below drifts from
-- TerminalReasons.
local terminal = {
  StorageClassNotFound = true,
  AdminCredentialsNotFound = true,
  StoreDenied = true,
  InvalidSpec = true,
  StorageConflict = true,
  Unsupported = true,
  OIDCCASecretNotFound = true,
}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function describe(c)
  return (c.reason or "NoReason") .. ": " .. (c.message or "")
end

hs = {}
local generation = obj.metadata.generation
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator: the TelemetryLake has no status yet"
  return hs
end

if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation) ..
    " (the status describes generation " .. tostring(status.observedGeneration or "none") .. ")"
  return hs
end

local ready = findCondition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator: no Ready condition yet"
  return hs
end

if generation ~= nil and ready.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "the Ready condition describes generation " .. tostring(ready.observedGeneration or "none") ..
    ", not generation " .. tostring(generation) .. ": " .. describe(ready)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
elseif ready.status == "False" and terminal[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
else
  hs.status = "Progressing"
  hs.message = describe(ready)
end
return hs
