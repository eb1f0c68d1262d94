-- Argo CD health of a LakeStorageClass (lake.telemetrylake.io/v1alpha1, cluster-scoped).
--
-- The same rules as a TelemetryLake's, on the class's Ready condition (its admin credentials, and CA,
-- are in place in the operator's namespace; whether the store answers shows on the lakes):
-- Healthy:     the operator has observed the current generation and Ready, written for that same
--              generation, is True.
-- Degraded:    Ready=False for a reason that needs a person (v1alpha1.TerminalReasons).
-- Progressing: everything else, including a class the operator has not looked at yet.
--
-- The Go test in this directory runs this script against every condition reason of api/v1alpha1
-- and fails when the list below drifts from TerminalReasons.
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
  hs.message = "waiting for the operator: the LakeStorageClass has no status yet"
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
