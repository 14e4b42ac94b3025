"""Install media: ISOs, floppies, kickstart side media and ISO remastering.

iso        read ISO files by path (pycdlib); write reproducible ISOs
fat        1.44 MB floppies; read or replace one file in any FAT image
sidemedia  OEMDRV ISO and ks floppy that hand a kickstart to Anaconda
bootcfg    isolinux.cfg / grub.cfg edits that make the install entry boot by itself
isopatch   in-place ISO 9660 edits through a sector overlay (no re-mastering)
remaster   vendor ISO -> unattended ISO, BIOS and UEFI
"""
