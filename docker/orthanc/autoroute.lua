-- Routes every stable study that holds CT images to lung-triage ("ai" in DicomWeb.Servers), like a hospital
-- auto-routing rule. Loop guard: our results (SR, SC, KO) make the study unstable again; we re-send only when
-- the study has more CT instances than when it was last forwarded (late slices), never for our own objects.
--
-- ForwardedToAI is set only after a successful forward. A failed one (gateway down or restarting) is retried with
-- backoff (10 s doubling to 5 min). Orthanc 1.10 has no Lua timer: due retries run on the next Lua event (each
-- stored instance, stable study, job end) and, on Orthanc versions that have it, OnHeartBeat (LuaHeartBeatPeriod).
-- Retries live in memory: a study still pending when Orthanc restarts, or when the PACS stays quiet, is found by
-- the gateway's reconciliation (LT_RECONCILE_SECONDS), which queries this PACS and pulls what it never received.

local FIRST_RETRY_SECONDS = 10
local MAX_RETRY_SECONDS = 300

-- Orthanc study id -> { attempt = failed attempts so far, due = os.time() of the next try }
local retries = {}

local function CountCtInstances(studyId)
  local count = 0
  local series = ParseJson(RestApiGet('/studies/' .. studyId .. '/series'))
  for _, s in ipairs(series) do
    if s['MainDicomTags']['Modality'] == 'CT' then
      count = count + #s['Instances']
    end
  end
  return count
end

-- CT instances counted at the last successful forward, 0 if never: the metadata list is read first, because
-- reading a metadata item that is absent makes Orthanc log an error on every study's first forward.
local function ForwardedCount(studyId)
  local names = ParseJson(RestApiGet('/studies/' .. studyId .. '/metadata'))
  for _, name in ipairs(names) do
    if name == 'ForwardedToAI' then
      return tonumber(RestApiGet('/studies/' .. studyId .. '/metadata/ForwardedToAI')) or 0
    end
  end
  return 0
end

local function Forward(studyId)
  local okCount, ct = pcall(CountCtInstances, studyId)
  if not okCount then
    retries[studyId] = nil -- the study was deleted meanwhile
    return
  end
  if ct == 0 or ForwardedCount(studyId) >= ct then
    retries[studyId] = nil
    return
  end
  local retry = retries[studyId]
  print('lung-triage: forwarding study ' .. studyId .. ' (' .. ct .. ' CT instances)' .. (retry and (', retry ' .. retry.attempt) or ''))
  local ok, answer = pcall(RestApiPost, '/dicom-web/servers/ai/stow', DumpJson({ Resources = { studyId }, Synchronous = true }, true))
  if ok and answer ~= nil then
    RestApiPut('/studies/' .. studyId .. '/metadata/ForwardedToAI', tostring(ct))
    retries[studyId] = nil
    return
  end
  local attempt = (retry and retry.attempt or 0) + 1
  local delay = math.floor(math.min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ^ (attempt - 1)))
  retries[studyId] = { attempt = attempt, due = os.time() + delay }
  print('lung-triage: forward of study ' .. studyId .. ' failed, retry in ' .. delay .. ' s')
end

local function RetryDue()
  local now = os.time()
  local due = {}
  for studyId, r in pairs(retries) do
    if r.due <= now then
      table.insert(due, studyId)
    end
  end
  for _, studyId in ipairs(due) do
    Forward(studyId)
  end
end

function OnStableStudy(studyId, tags, metadata)
  Forward(studyId)
  RetryDue()
end

function OnStoredInstance(instanceId, tags, metadata, origin)
  RetryDue()
end

function OnJobSuccess(jobId)
  RetryDue()
end

function OnJobFailure(jobId)
  RetryDue()
end

function OnHeartBeat()
  RetryDue()
end
