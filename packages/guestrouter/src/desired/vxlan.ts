export const VNI_MIN = 1;
export const VNI_MAX = 16777215;

/**
 * The multicast group CloudStack's KVM host script (scripts/vm/network/vnet/modifyvxlan.sh)
 * gives a VNI: 239.<(VNI>>16)&255>.<(VNI>>8)&255>.<VNI&255>. The router must join the
 * same group to be on the same segment as the hosts.
 */
export function multicastGroupForVni(vni: number): string {
  if (!Number.isInteger(vni) || vni < VNI_MIN || vni > VNI_MAX) {
    throw new RangeError(`VNI ${vni} is outside ${VNI_MIN}-${VNI_MAX}`);
  }
  return `239.${(vni >> 16) & 255}.${(vni >> 8) & 255}.${vni & 255}`;
}

export function vxlanLinkName(vni: number): string {
  return `vxlan${vni}`;
}

export function vlanLinkName(trunk: string, vlanId: number): string {
  return `${trunk}.${vlanId}`;
}
