-- wrk script for the HTTP benchmarks: POSTs a 64-byte body with a distinct X-Gearman-Unique on
-- every request, so that neither server coalesces jobs (the C gearmand coalesces equal
-- workloads when no unique key is given). `wrk ... -s post.lua URL -- bg` submits background
-- jobs instead of foreground ones.
local threads = {}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    prefix = tostring(id) .. "-"
    background = args[1] == "bg"
    counter = 0
    body = string.rep("x", 64)
end

function request()
    counter = counter + 1
    local headers = { ["X-Gearman-Unique"] = prefix .. counter }
    if background then
        headers["X-Gearman-Background"] = "true"
    end
    return wrk.format("POST", nil, headers, body)
end
