-- Routes every stable study that holds CT images to lung-triage ("ai" in DicomWeb.Servers), like a hospital
-- auto-routing rule. Loop guard: our results (SR, SC, KO) make the study unstable again; we re-send only when
-- the study has more CT instances than when it was last forwarded (late slices), never for our own objects.

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

function OnStableStudy(studyId, tags, metadata)
  local ct = CountCtInstances(studyId)
  if ct == 0 then
    return
  end
  local ok, forwarded = pcall(RestApiGet, '/studies/' .. studyId .. '/metadata/ForwardedToAI')
  if ok and tonumber(forwarded) ~= nil and tonumber(forwarded) >= ct then
    return
  end
  print('lung-triage: forwarding study ' .. studyId .. ' (' .. ct .. ' CT instances)')
  RestApiPost('/dicom-web/servers/ai/stow', DumpJson({ Resources = { studyId }, Synchronous = true }, true))
  RestApiPut('/studies/' .. studyId .. '/metadata/ForwardedToAI', tostring(ct))
end
