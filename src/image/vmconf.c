/*
 * Names of image formats, firmwares and hypervisors, and what a VM needs to
 * start read from its hypervisor's own definition (.vmx or libvirt XML).
 */
#include "image/image.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *cr_image_format_name(cr_image_format f)
{
    switch (f) {
    case CR_IMAGE_AUTO: return "auto";
    case CR_IMAGE_RAW: return "raw";
    case CR_IMAGE_QCOW2: return "qcow2";
    case CR_IMAGE_VMDK: return "vmdk";
    case CR_IMAGE_VMDK_FLAT: return "vmdk-flat";
    case CR_IMAGE_VHDX: return "vhdx";
    case CR_IMAGE_VHD: return "vhd";
    }
    return "unknown";
}

int cr_image_format_parse(cr_image_format *out, const char *name)
{
    static const struct {
        const char *name;
        cr_image_format f;
    } names[] = {
        {"auto", CR_IMAGE_AUTO},   {"raw", CR_IMAGE_RAW},   {"img", CR_IMAGE_RAW},
        {"qcow2", CR_IMAGE_QCOW2}, {"vmdk", CR_IMAGE_VMDK}, {"vmdk-stream", CR_IMAGE_VMDK},
        {"vmdk-flat", CR_IMAGE_VMDK_FLAT}, {"vhdx", CR_IMAGE_VHDX}, {"vhd", CR_IMAGE_VHD},
        {"vpc", CR_IMAGE_VHD},
    };
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    }
    cr_error_set("unknown disk image format '%s': use raw, qcow2, vmdk, vmdk-flat, vhdx or vhd",
                 name ? name : "");
    return CR_EINPUT;
}

const char *cr_firmware_name(cr_firmware f)
{
    switch (f) {
    case CR_FIRMWARE_BIOS: return "bios";
    case CR_FIRMWARE_UEFI: return "uefi";
    case CR_FIRMWARE_UNKNOWN: break;
    }
    return "unknown";
}

int cr_firmware_parse(cr_firmware *out, const char *name)
{
    if (name && (strcasecmp(name, "bios") == 0 || strcasecmp(name, "seabios") == 0)) {
        *out = CR_FIRMWARE_BIOS;
        return 0;
    }
    if (name && (strcasecmp(name, "uefi") == 0 || strcasecmp(name, "efi") == 0 ||
                 strcasecmp(name, "ovmf") == 0)) {
        *out = CR_FIRMWARE_UEFI;
        return 0;
    }
    cr_error_set("unknown firmware '%s': use bios or uefi", name ? name : "");
    return CR_EINPUT;
}

const char *cr_hypervisor_name(cr_hypervisor h)
{
    switch (h) {
    case CR_HYPERVISOR_KVM: return "kvm";
    case CR_HYPERVISOR_PROXMOX: return "proxmox";
    case CR_HYPERVISOR_VMWARE: return "vmware";
    case CR_HYPERVISOR_HYPERV: return "hyperv";
    }
    return "unknown";
}

int cr_hypervisor_parse(cr_hypervisor *out, const char *name)
{
    static const struct {
        const char *name;
        cr_hypervisor h;
    } names[] = {
        {"kvm", CR_HYPERVISOR_KVM},       {"libvirt", CR_HYPERVISOR_KVM},
        {"qemu", CR_HYPERVISOR_KVM},      {"proxmox", CR_HYPERVISOR_PROXMOX},
        {"pve", CR_HYPERVISOR_PROXMOX},   {"vmware", CR_HYPERVISOR_VMWARE},
        {"esxi", CR_HYPERVISOR_VMWARE},   {"hyperv", CR_HYPERVISOR_HYPERV},
        {"hyper-v", CR_HYPERVISOR_HYPERV},
    };
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].h;
            return 0;
        }
    }
    cr_error_set("unknown hypervisor '%s': use kvm, proxmox, vmware or hyperv", name ? name : "");
    return CR_EINPUT;
}

void cr_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
