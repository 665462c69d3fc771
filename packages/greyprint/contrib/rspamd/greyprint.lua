--[[
greyprint: score mail that a desktop Windows machine sent straight to us.

greyprint's Postfix policy daemon prepends `X-P0f-OS: <name> <flavor>` to
every message, in p0f's wording (`Windows XP`, `Windows 7 or 8`,
`Windows NT kernel`, `Linux 3.11 and newer`, `unknown` ...). This rule adds
GREYPRINT_DESKTOP_WINDOWS (default 2.5, group `greyprint`) when that header
names Windows but not a Windows Server edition, and not greyprint's
`(mail server: ...)` qualifier (`Windows 7 or 8 (mail server: verified rDNS)`:
a Windows client with verified, non-dynamic reverse DNS that the daemon let
through as a mail server). Other OSes and `unknown` add nothing.

Only the topmost X-P0f-OS counts: greyprint's header is prepended above the
client's own headers, so an X-P0f-OS forged by the sender is ignored.

Install (Debian): copy to /etc/rspamd/greyprint.lua and load it from
/etc/rspamd/rspamd.local.lua (create that file if it does not exist):
    dofile('/etc/rspamd/greyprint.lua')
then `rspamadm configtest && systemctl reload rspamd`.
Change the score in /etc/rspamd/local.d/groups.conf:
    group "greyprint" { symbols { "GREYPRINT_DESKTOP_WINDOWS" { weight = 3.0; } } }
]]

local SYMBOL = 'GREYPRINT_DESKTOP_WINDOWS'

-- The value of the first (topmost) X-P0f-OS header, or nil.
local function first_p0f_os(task)
  local headers = task:get_header_full('X-P0f-OS')
  if not headers or not headers[1] then
    return nil
  end
  local value = headers[1].decoded or headers[1].value or ''
  return (value:gsub('^%s+', ''):gsub('%s+$', ''))
end

local function is_desktop_windows(os_label)
  if not os_label:match('^Windows%f[^%w]') and os_label ~= 'Windows' then
    return false
  end
  return not os_label:lower():find('%f[%w]server%f[^%w]')
end

rspamd_config:register_symbol({
  name = SYMBOL,
  score = 2.5,
  group = 'greyprint',
  description = 'Sent directly by a desktop Windows PC (passive OS fingerprint, X-P0f-OS)',
  callback = function(task)
    local os_label = first_p0f_os(task)
    if os_label and is_desktop_windows(os_label) then
      return true, 1.0, os_label
    end
    return false
  end,
})
